"""Bulk jobs: types, mutations, the bulkJobs query and the bulkJob subscription."""
