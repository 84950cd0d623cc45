/* nurture.js: report page views, form submissions and custom events to nurture.
 *
 *   <script src="https://nurture.example/js/nurture.js" data-key="pk_..." async></script>
 *
 * The visitor is known by the signed `nt` parameter that links in our emails carry; it is
 * kept in localStorage so later visits are attributed too, and taken out of the address bar
 * and of every URL we report, so it is not shared, bookmarked or leaked. Without it, only
 * form submissions that include an email field are recorded. A page view is sent on load unless
 * the script tag has data-page-view="off". No cookies, no dependencies.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.nurture) return;
  var endpoint = new URL("/track", script.src).href;
  var key = script.getAttribute("data-key") || "";
  var STORAGE = "nurture_token";

  function store(name, value) {
    try {
      if (value) window.localStorage.setItem(name, value);
      return window.localStorage.getItem(name);
    } catch (e) {
      return value || null;
    }
  }

  function withoutToken(address) {
    if (!address) return address;
    try {
      var url = new URL(address);
      if (!url.searchParams.has("nt")) return address;
      url.searchParams.delete("nt");
      return url.href;
    } catch (e) {
      return address;
    }
  }

  var token = store(STORAGE, new URLSearchParams(window.location.search).get("nt"));
  if (withoutToken(location.href) !== location.href) {
    try {
      window.history.replaceState(window.history.state, "", withoutToken(location.href));
    } catch (e) {}
  }

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function send(type, properties, extra) {
    var body = { key: key, id: uuid(), type: type, properties: properties || {} };
    if (token) body.token = token;
    for (var name in extra || {}) body[name] = extra[name];
    if (!body.token && !body.email) return Promise.resolve(null);
    return fetch(endpoint, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      keepalive: true,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).catch(function () {
      return null;
    });
  }

  function eventName(type) {
    return String(type).toLowerCase().replace(/[^a-z0-9_.-]+/g, "_").replace(/^web\./, "");
  }

  window.nurture = {
    page: function (properties) {
      var page = {
        url: withoutToken(location.href),
        path: location.pathname,
        title: document.title,
        referrer: withoutToken(document.referrer)
      };
      for (var name in properties || {}) page[name] = properties[name];
      return send("web.page_viewed", page);
    },
    track: function (type, properties) {
      return send("web." + eventName(type), properties);
    },
    form: function (form, properties) {
      var element = typeof form === "string" ? document.forms[form] : form;
      var fields = {};
      var email = null;
      if (element) {
        new FormData(element).forEach(function (value, name) {
          if (typeof value !== "string" || /password|card|cvc|ssn/i.test(name)) return;
          var attribute = name.replace(/[^A-Za-z0-9_]/g, "_");
          if (attribute.toLowerCase() === "email") email = value.trim();
          else if (/^[A-Za-z_]\w{0,63}$/.test(attribute)) fields[attribute] = value.slice(0, 2000);
        });
      }
      var props = { form: (element && (element.getAttribute("name") || element.id)) || String(form) };
      for (var name in properties || {}) props[name] = properties[name];
      var extra = { attributes: fields };
      if (email) extra.email = email;
      return send("web.form_submitted", props, extra);
    }
  };

  if (script.getAttribute("data-page-view") !== "off") window.nurture.page();
})();
