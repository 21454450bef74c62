"""SQLAlchemy models of the catalogue tables."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Base of every catalogue table."""
