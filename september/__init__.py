"""september: a searchable sky catalogue and finished images from an automated telescope's frames.

Layers, from the bottom up (a module may import only from its own layer or those below):

- science: ``image``, ``stars``, ``astrometry``, ``sky``, ``sim``, ``engine``, ``lucky``
  (functions on arrays, headers and paths; no database, no CLI);
- catalogue: ``catalogue`` (PostgreSQL + Q3C: server, models, queries; no image maths);
- services: ``services`` (ingest, grade, cluster, calibration matching, export, plan);
- interfaces: ``cli``, ``report`` (thin).
"""

__version__ = "0.1.0"
