"""Pure spatial code: layers, tracks, datum, placement, coverage, maps. No database, HTTP or clock."""
