"""The edges between the pure core and the world: documents (YAML and JSON text), the rules file,
certificate PEMs, and previews rendered for people."""
