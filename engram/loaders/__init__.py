"""Loaders that turn public data sets into engram types (trajectories, archives)."""
