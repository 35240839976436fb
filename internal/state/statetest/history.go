package statetest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/state"
)

// runHistory is the part of the conformance suite about the history and claims kept beside the
// state.
func runHistory(t *testing.T, open func(t *testing.T) func() state.Store) {
	t.Run("HistoryEmpty", func(t *testing.T) {
		t.Parallel()
		s := open(t)()
		got, err := s.History(t.Context(), state.HistoryQuery{})
		if err != nil || len(got) != 0 {
			t.Fatalf("History of an empty store: got %v, %v; want nothing, nil", got, err)
		}
	})

	t.Run("HistoryRoundTrip", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		a, b := o(), o()
		want := fullEntry()
		got, err := a.Append(t.Context(), want)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if got.ID == "" {
			t.Fatal("Append returned no ID")
		}
		want.ID = got.ID
		read, err := b.History(t.Context(), state.HistoryQuery{})
		if err != nil || len(read) != 1 {
			t.Fatalf("History through the second instance: got %d entries, %v; want 1, nil", len(read), err)
		}
		diffEntry(t, read[0], want)
	})

	t.Run("HistoryOrderAcrossInstances", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		a, b := o(), o()
		var ids []string
		for i := range 6 {
			s := a
			if i%2 == 1 {
				s = b
			}
			e := fullEntry()
			e.Message = fmt.Sprintf("change %d", i)
			got, err := s.Append(t.Context(), e)
			if err != nil {
				t.Fatalf("Append %d: %v", i, err)
			}
			ids = append(ids, got.ID)
		}
		read, err := a.History(t.Context(), state.HistoryQuery{})
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		if len(read) != len(ids) {
			t.Fatalf("History: got %d entries, want %d", len(read), len(ids))
		}
		for i, e := range read {
			if e.ID != ids[i] || e.Message != fmt.Sprintf("change %d", i) {
				t.Errorf("entry %d: got %s %q, want %s %q", i, e.ID, e.Message, ids[i], fmt.Sprintf("change %d", i))
			}
		}
		checkIncreasing(t, read)
	})

	t.Run("HistoryQuery", func(t *testing.T) {
		t.Parallel()
		s := open(t)()
		var all []state.Entry
		for i, scope := range []string{"", "api", "", "api", "shop"} {
			e := fullEntry()
			e.Scope = scope
			e.Message = fmt.Sprintf("change %d", i)
			got, err := s.Append(t.Context(), e)
			if err != nil {
				t.Fatalf("Append %d: %v", i, err)
			}
			all = append(all, got)
		}
		for _, c := range []struct {
			name string
			q    state.HistoryQuery
			want []int // indexes into all
		}{
			{"all", state.HistoryQuery{}, []int{0, 1, 2, 3, 4}},
			{"limit keeps the newest", state.HistoryQuery{Limit: 2}, []int{3, 4}},
			{"limit larger than the history", state.HistoryQuery{Limit: 50}, []int{0, 1, 2, 3, 4}},
			{"scope", state.HistoryQuery{Scope: "api"}, []int{1, 3}},
			{"scope and limit", state.HistoryQuery{Scope: "api", Limit: 1}, []int{3}},
			{"after", state.HistoryQuery{After: all[2].ID}, []int{3, 4}},
			{"after the newest", state.HistoryQuery{After: all[4].ID}, nil},
			{"after and scope", state.HistoryQuery{After: all[0].ID, Scope: "shop"}, []int{4}},
		} {
			got, err := s.History(t.Context(), c.q)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			var gotMsgs, wantMsgs []string
			for _, e := range got {
				gotMsgs = append(gotMsgs, e.Message)
			}
			for _, i := range c.want {
				wantMsgs = append(wantMsgs, all[i].Message)
			}
			if strings.Join(gotMsgs, ",") != strings.Join(wantMsgs, ",") {
				t.Errorf("%s: got %v, want %v", c.name, gotMsgs, wantMsgs)
			}
		}
		if _, err := s.History(t.Context(), state.HistoryQuery{After: "not an id"}); err == nil {
			t.Error("History after a malformed ID: got no error")
		}
	})

	t.Run("HistoryConcurrentAppends", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		a, b := o(), o()
		const n = 20
		var wg sync.WaitGroup
		ids := make([]string, n)
		for i := range n {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				e := fullEntry()
				e.Message = fmt.Sprintf("writer %d", i)
				got, err := s.Append(t.Context(), e)
				if err != nil {
					t.Errorf("Append %d: %v", i, err)
				}
				ids[i] = got.ID
			})
		}
		wg.Wait()
		read, err := a.History(t.Context(), state.HistoryQuery{})
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		if len(read) != n {
			t.Fatalf("History after %d concurrent appends: got %d entries", n, len(read))
		}
		seen := map[string]bool{}
		for _, e := range read {
			if seen[e.ID] {
				t.Errorf("ID %s given twice", e.ID)
			}
			seen[e.ID] = true
		}
		for i, id := range ids {
			if !seen[id] {
				t.Errorf("the ID Append %d returned, %s, is not in the history", i, id)
			}
		}
		checkIncreasing(t, read)
	})

	t.Run("HistoryIsCapped", func(t *testing.T) {
		t.Parallel()
		s := open(t)()
		// Twice the cap, with entries large enough that the file store rotates too.
		total := 2*state.HistoryCap + 100
		pad := strings.Repeat("x", 400)
		var first, last state.Entry
		for i := range total {
			e := state.Entry{Time: time.Unix(int64(i), 0).UTC(), Event: state.EventChanged, Who: "cap", Via: state.ViaCLI, Message: fmt.Sprintf("%d %s", i, pad)}
			got, err := s.Append(t.Context(), e)
			if err != nil {
				t.Fatalf("Append %d: %v", i, err)
			}
			if i == 0 {
				first = got
			}
			last = got
		}
		read, err := s.History(t.Context(), state.HistoryQuery{})
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		if len(read) >= total || len(read) < 100 {
			t.Fatalf("History after %d appends: got %d entries, want it capped (fewer, and at least the last 100)", total, len(read))
		}
		if read[0].ID == first.ID {
			t.Errorf("the first entry is still there after %d appends", total)
		}
		if read[len(read)-1].ID != last.ID {
			t.Errorf("newest entry: got %s, want %s", read[len(read)-1].ID, last.ID)
		}
		checkIncreasing(t, read)
	})

	t.Run("Claim", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		a, b := o(), o()
		ok, err := a.Claim(t.Context(), "entry-1", time.Hour)
		if err != nil || !ok {
			t.Fatalf("first Claim: got %v, %v; want true, nil", ok, err)
		}
		for _, s := range []state.Store{a, b} {
			if ok, err := s.Claim(t.Context(), "entry-1", time.Hour); err != nil || ok {
				t.Errorf("Claim of a claimed key: got %v, %v; want false, nil", ok, err)
			}
		}
		if ok, err := b.Claim(t.Context(), "entry-2", time.Hour); err != nil || !ok {
			t.Errorf("Claim of another key: got %v, %v; want true, nil", ok, err)
		}
	})

	t.Run("ClaimRace", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		stores := []state.Store{o(), o(), o(), o()}
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			s := stores[i%len(stores)]
			wg.Go(func() {
				ok, err := s.Claim(t.Context(), "raced", time.Hour)
				if err != nil {
					t.Errorf("Claim: %v", err)
				}
				if ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Errorf("16 racing claims of one key: %d won, want exactly 1", n)
		}
	})
}

func fullEntry() state.Entry {
	zone := time.FixedZone("UTC+2", 2*60*60)
	return state.Entry{
		Time:    time.Date(2030, 5, 1, 12, 0, 0, 999, time.UTC),
		Event:   state.EventOn,
		Scope:   "api",
		On:      true,
		Message: "Back soon: \"upgrade\" <b>&</b> ünïcode\nsecond line",
		Until:   time.Date(2030, 5, 6, 7, 8, 9, 123456789, zone),
		Start:   time.Date(2030, 5, 6, 5, 0, 0, 1, zone),
		Who:     "alice@example.com",
		Token:   "ops",
		Via:     state.ViaPage,
		Addr:    "203.0.113.7",
		Reason:  "database migration",
	}
}

func diffEntry(t *testing.T, got, want state.Entry) {
	t.Helper()
	if got.ID != want.ID || !got.Time.Equal(want.Time) || got.Event != want.Event || got.Scope != want.Scope ||
		got.On != want.On || got.Message != want.Message || !got.Until.Equal(want.Until) || !got.Start.Equal(want.Start) ||
		got.Who != want.Who || got.Token != want.Token || got.Via != want.Via || got.Addr != want.Addr || got.Reason != want.Reason {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// checkIncreasing checks that IDs grow in the order History returns them; they are compared as
// "<ms>-<seq>" pairs, the form every store uses.
func checkIncreasing(t *testing.T, entries []state.Entry) {
	t.Helper()
	for i := 1; i < len(entries); i++ {
		var am, as, bm, bs uint64
		if _, err := fmt.Sscanf(entries[i-1].ID, "%d-%d", &am, &as); err != nil {
			t.Fatalf("ID %q: %v", entries[i-1].ID, err)
		}
		if _, err := fmt.Sscanf(entries[i].ID, "%d-%d", &bm, &bs); err != nil {
			t.Fatalf("ID %q: %v", entries[i].ID, err)
		}
		if bm < am || bm == am && bs <= as {
			t.Errorf("IDs out of order: %s then %s", entries[i-1].ID, entries[i].ID)
		}
	}
}
