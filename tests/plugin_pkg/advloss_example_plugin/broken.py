"""A deliberately broken plugin module (a test fixture): importing it raises."""

raise RuntimeError("advloss_example_plugin.broken is broken on purpose")
