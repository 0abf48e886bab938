"""Reconciliation: find, report and (when asked) repair what failures leave behind."""
