"""Core image processing: numpy, scipy and higra only."""
