"""tfhub-kit: turn text encoders into published TensorFlow Hub models.

Stages, each reading the previous stage's files on disk:
recipe -> export -> validate -> evaluate -> docs -> package -> publish.
"""

__version__ = "0.1.0"
