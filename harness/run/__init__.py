"""Running points: the command line, its config schema, the sweep runner, launchers and the
child-process isolation a point runs under."""
