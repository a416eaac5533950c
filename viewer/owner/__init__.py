"""The owner wing: the ``fragment`` command line, which encrypts albums before they leave the machine."""
