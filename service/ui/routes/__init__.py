"""The dashboard's routes, one module per area; each picks a template and little else."""
