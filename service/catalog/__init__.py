"""The journey catalog: versions loaded from files and stored, and the reads about them."""
