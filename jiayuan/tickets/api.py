"""Tickets API (filled in by the pipeline work)."""

from ninja import Router

router = Router()
