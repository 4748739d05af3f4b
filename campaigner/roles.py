"""The two roles of the admin (domain.md §5.4), as Django groups that a user is given beside
their teams. The groups and their permissions are made by migration ``dialer.0004_roles``,
which holds its own copy of the lists below (a migration must not change when this does).

- **Operator**: edits leads, runs imports, uploads DNC, rebuilds dialer caches, retries
  deliveries, and reads the configuration.
- **Supervisor**: an operator who also configures templates, campaigns, allocations, Contact
  Hours, dispositions and their actions, phone patterns and API keys.

What either sees stays limited to their teams' templates (``campaigner.selectors``).
"""

from __future__ import annotations

OPERATOR = "Operator"
SUPERVISOR = "Supervisor"
ROLES = (OPERATOR, SUPERVISOR)
