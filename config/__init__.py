"""Settings, the composition root, the CLI and the data files (policy profiles, calendars) that configure a district."""
