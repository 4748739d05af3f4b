"""Dialer state (the per-campaign cache) is added by the dialer issue."""
