"""Restoring from an archive: the plan, the trust policy, staging, the journalled swap, the run."""
