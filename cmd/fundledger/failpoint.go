//go:build !failpoints

package main

// failpoint is nil in the production build: no failure can be injected.
func failpoint() func(string) error { return nil }
