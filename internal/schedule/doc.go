// Package schedule owns recurring maintenance windows: a 5-field cron expression (parsed by
// robfig/cron), a duration and an IANA time zone. A window is a pure function of the clock — Window.At
// says whether it is open at an instant and until when, Window.Next when it next opens — so every
// instance that has the same configuration and a synchronised clock agrees on it without talking to
// the others or to the store. The cron expression is read in the zone's wall-clock time: a window
// opens at the first instant the zone's clocks show its start time or later, which on the day the
// clocks spring forward past the start is the moment of the change, and on the day they fall back is
// the first of the two moments that show it (it opens once). The duration is elapsed time.
//
// This follows the DST rule of Vixie/ISC cron, cron(8) "Daylight Saving Time and other time
// changes": jobs in skipped time run soon after the change, jobs in repeated time are not re-run;
// unlike cron(8) it applies to wildcard fields too. robfig/cron's Next handles DST its own way, so
// schedule.go feeds it wall times written as UTC (wallOf) and maps them back (resolve).
package schedule
