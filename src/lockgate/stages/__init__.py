"""Pipeline stages: small objects with one job each, composed once at start-up."""
