// Package config owns maintpage's configuration: the Config type, every setting declared once (key,
// environment variable, flag, default, parser), loading from a YAML file, the environment and flags
// (flags beat env beat file beat defaults), and validation that reports every problem at once with
// where it came from and how to fix it. The settings table in docs/settings.md is generated from the same list.
package config
