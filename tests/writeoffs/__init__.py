"""Write-offs end to end, bad input and races."""
