"""What both benchmark commands share: processes, services, load generators, sampling."""
