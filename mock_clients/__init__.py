"""Simulated operators and riders that talk to the service over HTTP only."""
