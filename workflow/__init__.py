"""specgoods workflow engine: the domain core, its use cases and its persistence."""
