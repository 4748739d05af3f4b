"""The management API's resources (domain.md §5.2) under ``/api/v1/``: thin interfaces over
``leads.services`` and ``campaigner.services``, with the conventions of
``campaigner.api.management``."""
