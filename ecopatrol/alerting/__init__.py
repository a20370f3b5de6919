"""Alerting wired into the application: the pure ``alerts`` domain fed from the store and persisted.

Modules: ``settings`` (rules, escalation, routes, inhibitions from config, checked at start),
``facts`` (what rules read, from the store and layers), ``context`` (the pipeline's context),
``repo`` (alerts, timelines, silences, outbox), ``people`` (personnel, squads, rosters, positions),
``service`` (report commit, scheduled rules, escalation, people's actions), ``scheduler``
(APScheduler jobs, PostgreSQL leader lock), ``wiring`` (``install_alerting``), ``views`` (API JSON),
``rulecases`` / ``backtest`` (``ecopatrol rules test``), ``demo`` (demo squads).
"""
