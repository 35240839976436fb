package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ApplyError is a write that failed part-way: which object failed, which of the objects already
// changed were put back, and which could not be (Stuck: the operator must look).
type ApplyError struct {
	Failed     Ref
	Err        error
	RolledBack []Ref
	Stuck      []StuckRef
}

// StuckRef is an object changed before the failure that could not be put back, and why.
type StuckRef struct {
	Ref Ref
	Err error
}

func (e *ApplyError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if len(e.RolledBack) > 0 {
		var s []string
		for _, r := range e.RolledBack {
			s = append(s, r.String())
		}
		fmt.Fprintf(&b, "; put back: %s", strings.Join(s, ", "))
	}
	for _, s := range e.Stuck {
		fmt.Fprintf(&b, "; NOT put back: %s (%v): run maintpage k8s status, then the same command again", s.Ref, s.Err)
	}
	return b.String()
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Incomplete says whether some object is left switched after the failure.
func (e *ApplyError) Incomplete() bool { return len(e.Stuck) > 0 }

// Apply writes the plan's changes in order, each guarded by the resourceVersion read while planning.
// If one fails, the objects already written are put back (newest first), each guarded by the
// resourceVersion of maintpage's own write, so an edit made since is reported rather than undone.
// progress is called after each successful write.
func (c *Client) Apply(ctx context.Context, p *Plan, progress func(i int, ch Change)) error {
	if c.afterPlan != nil {
		c.afterPlan()
	}
	written := make([]*unstructured.Unstructured, 0, len(p.Changes))
	for i, ch := range p.Changes {
		if ch.after == nil {
			return errors.New("kube: Apply needs a plan from PlanOn or PlanOff")
		}
		got, err := c.res(ch.Ref.Kind).Update(ctx, ch.after, metav1.UpdateOptions{})
		if err != nil {
			ae := &ApplyError{Failed: ch.Ref, Err: c.writeError(err, ch.Ref, ch.before.GetResourceVersion(), false)}
			// A cancelled ctx (Ctrl-C) must not stop the rollback: it gets its own context.
			rctx := context.WithoutCancel(ctx)
			for j := len(written) - 1; j >= 0; j-- {
				prev := p.Changes[j]
				back := prev.before.DeepCopy()
				back.SetResourceVersion(written[j].GetResourceVersion())
				if _, err := c.res(prev.Ref.Kind).Update(rctx, back, metav1.UpdateOptions{}); err != nil {
					ae.Stuck = append(ae.Stuck, StuckRef{Ref: prev.Ref, Err: c.writeError(err, prev.Ref, back.GetResourceVersion(), false)})
					continue
				}
				ae.RolledBack = append(ae.RolledBack, prev.Ref)
			}
			return ae
		}
		written = append(written, got)
		if progress != nil {
			progress(i, ch)
		}
	}
	return nil
}
