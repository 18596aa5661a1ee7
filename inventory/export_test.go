package inventory

// OSNames exposes osNames to the external test that compares it with
// platform.OSNames (which this package cannot import).
var OSNames = osNames
