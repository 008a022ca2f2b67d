"""Write-offs: a human decision to stop collecting, always with a reason."""
