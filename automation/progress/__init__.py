"""Progress-collection outputs (the HQ export workbook)."""
