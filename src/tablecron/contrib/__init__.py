"""Optional integrations. Each subpackage imports its dependency; the core imports none."""
