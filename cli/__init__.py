"""The ``evidence`` command line, on top of everything else (evidence, api, workers): nothing below
it imports it."""
