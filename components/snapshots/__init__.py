"""Snapshots of a cluster: the schedule (a resource of the stack), taking one now, listing and restoring."""
