"""The whole catalogue schema: every table module imported, so Alembic and checks see them all."""

from september.catalogue import clusters, models, processing, reference_stars  # noqa: F401

metadata = models.Base.metadata
