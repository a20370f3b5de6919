"""Sighting reports from partners, squads and the public: validate, place, store, track.

Modules: ``categories`` (per-category detail models and labels), ``schemas`` (the API's families),
``location`` (point or place name → WGS-84 in the county), ``context`` (placement, recent patrols,
near duplicates), ``photos`` (checks and EXIF), ``tracking`` (codes and QR), ``lifecycle`` (states),
``repo`` (SQL), ``service`` (create, transitions, reads), ``csv_import`` (partners' spreadsheets).
"""
