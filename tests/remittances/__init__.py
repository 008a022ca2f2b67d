"""Tests of the 835 reader: samples, hostile input, generated round trips, pyx12 validation."""
