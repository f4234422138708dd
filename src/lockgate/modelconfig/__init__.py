"""Live model configuration: deployments added, changed and removed without a restart
(``/admin/models`` stored in the database, ``SIGHUP`` re-reading the config file)."""
