"""The CLI's commands, one module each, and the helpers they share (:mod:`.common`)."""
