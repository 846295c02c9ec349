"""Damage-report domain: item catalogue, cell reading, table layouts and totals."""
