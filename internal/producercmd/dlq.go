package producercmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/schollz/progressbar/v3"

	"github.com/callback-dispatcher/dispatcher/internal/api"
	"github.com/callback-dispatcher/dispatcher/internal/config"
	"github.com/callback-dispatcher/dispatcher/internal/deadletter"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/store"
)

const dlqUsage = `producer dlq: dead letters in PostgreSQL (DATABASE_URL).

  producer dlq list    [filters] [--limit N] [--after ID] [--json]
  producer dlq show    ID
  producer dlq requeue ID... | [filters] | --all   [--dry-run] [--patch FILE]
                       [--by NAME] [--note TEXT] [--ignore-deadline] [--json]
  producer dlq purge   [filters] [--older-than DURATION] [--dry-run]

Filters: --reason R  --status N  --org ORG  --service NAME  --since T  --until T
(T is RFC 3339, such as 2026-12-01T00:00:00Z). Purge needs a filter or --older-than.`

// openStore opens the database the producer's configuration names.
func openStore(ctx context.Context, cfg config.Producer) (*store.Store, error) {
	if cfg.Store.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set")
	}
	return store.Open(ctx, cfg.Store.DatabaseURL)
}

// storeFromEnv reads the producer's configuration for a command line and
// opens the database it names.
func storeFromEnv(ctx context.Context) (config.Producer, *store.Store, error) {
	cfg, _, err := config.LoadProducer(nil, false)
	if err != nil {
		return cfg, nil, err
	}
	st, err := openStore(ctx, cfg)
	return cfg, st, err
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || (args[0] != "up" && args[0] != "status") {
		_, _ = fmt.Fprintln(stderr, "usage: producer migrate up|status")
		return 2
	}
	_, st, err := storeFromEnv(ctx)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, err)
		return 2
	}
	defer st.Close()
	if args[0] == "status" {
		if err := st.WriteMigrationStatus(ctx, stdout); err != nil {
			_, _ = fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	n, err := st.MigrateUp(ctx)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, err)
		return 1
	}
	_, _ = fmt.Fprintf(stdout, "applied %d migration(s); the schema is up to date\n", n)
	return 0
}

// filterFlags adds the dead-letter filters to fs.
type filterFlags struct {
	reason, org, service, since, until string
	status                             int
}

func (f *filterFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.reason, "reason", "", "dead-letter reason, such as rejected_4xx")
	fs.IntVar(&f.status, "status", 0, "Adobe's last HTTP status")
	fs.StringVar(&f.org, "org", "", "IMS org id")
	fs.StringVar(&f.service, "service", "", "service apiName")
	fs.StringVar(&f.since, "since", "", "dead-lettered at or after (RFC 3339)")
	fs.StringVar(&f.until, "until", "", "dead-lettered before (RFC 3339)")
}

func (f *filterFlags) filter() (store.Filter, error) {
	out := store.Filter{Reason: f.reason, Status: f.status, OrgID: f.org, Service: f.service}
	for _, t := range []struct {
		name, value string
		into        *time.Time
	}{{"--since", f.since, &out.Since}, {"--until", f.until, &out.Until}} {
		if t.value == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, t.value)
		if err != nil {
			return out, fmt.Errorf("%s: %q is not an RFC 3339 time such as "+
				"2026-12-01T00:00:00Z", t.name, t.value)
		}
		*t.into = v
	}
	return out, nil
}

func dlq(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || slices.Contains(args, "-h") || slices.Contains(args, "--help") {
		_, _ = fmt.Fprintln(stdout, dlqUsage)
		return 0
	}
	cfg, st, err := storeFromEnv(ctx)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, err)
		return 2
	}
	defer st.Close()
	c := &dlqCmd{cfg: cfg, store: st, stdout: stdout, stderr: stderr}
	switch args[0] {
	case "list":
		return c.list(ctx, args[1:])
	case "show":
		return c.show(ctx, args[1:])
	case "requeue":
		return c.requeue(ctx, args[1:])
	case "purge":
		return c.purge(ctx, args[1:])
	}
	_, _ = fmt.Fprintf(stderr, "unknown dlq command %q\n\n%s\n", args[0], dlqUsage)
	return 2
}

type dlqCmd struct {
	cfg            config.Producer
	store          *store.Store
	stdout, stderr io.Writer
	// positional are the arguments that are not flags, such as ids.
	positional []string
}

// parse reads flags wherever they stand among the arguments, so that
// `requeue ID --dry-run` is a dry run. Arguments that are not flags are
// kept as ids when ids is true, and refused otherwise.
func (c *dlqCmd) parse(fs *flag.FlagSet, args []string, ids bool) bool {
	c.positional = nil
	for {
		if err := fs.Parse(args); err != nil {
			return false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return true
		}
		if !ids {
			_, _ = fmt.Fprintf(c.stderr, "%s: unexpected argument %q; filters are flags such as "+
				"--reason\n", fs.Name(), rest[0])
			return false
		}
		c.positional = append(c.positional, rest[0])
		args = rest[1:]
	}
}

func (c *dlqCmd) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("producer dlq "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

func (c *dlqCmd) fail(err error) int {
	_, _ = fmt.Fprintln(c.stderr, err)
	return 1
}

func (c *dlqCmd) list(ctx context.Context, args []string) int {
	fs := c.flags("list")
	var ff filterFlags
	ff.add(fs)
	limit := fs.Int("limit", 100, "most dead letters to print")
	after := fs.String("after", "", "continue after this id")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if !c.parse(fs, args, false) {
		return 2
	}
	f, err := ff.filter()
	if err != nil {
		return c.fail(err)
	}
	if *limit < 1 || *limit > 10000 {
		_, _ = fmt.Fprintln(c.stderr, "--limit: must be from 1 to 10000")
		return 2
	}
	f.Limit, f.After = *limit, *after
	list, err := c.store.ListDeadLetters(ctx, f)
	if err != nil {
		return c.fail(err)
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		for _, dl := range list {
			_ = enc.Encode(dl)
		}
		return 0
	}
	tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "ID\tDEAD-LETTERED AT\tREASON\tSTATUS\tATTEMPTS\tORG\tENTITY\tREQUEUES")
	for _, dl := range list {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%d\n", dl.ID,
			dl.DeadLetteredAt.UTC().Format(time.RFC3339), dl.Reason, dl.LastStatus, dl.Attempts,
			dl.OrgID, dl.EntityType, dl.RequeueCount)
	}
	_ = tw.Flush()
	if len(list) == f.Limit {
		_, _ = fmt.Fprintf(c.stderr, "more may follow: --after %s\n", list[len(list)-1].ID)
	}
	return 0
}

func (c *dlqCmd) show(ctx context.Context, args []string) int {
	if len(args) != 1 {
		_, _ = fmt.Fprintln(c.stderr, "usage: producer dlq show ID")
		return 2
	}
	dl, err := c.store.GetDeadLetter(ctx, args[0])
	if err != nil {
		return c.fail(err)
	}
	attempts, err := c.store.Attempts(ctx, dl.ID)
	if err != nil {
		return c.fail(err)
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(struct {
		store.DeadLetter
		AttemptLog []store.Attempt `json:"attemptLog"`
	}{dl, attempts})
	return 0
}

func (c *dlqCmd) requeue(ctx context.Context, args []string) int {
	fs := c.flags("requeue")
	var ff filterFlags
	ff.add(fs)
	all := fs.Bool("all", false, "requeue every dead letter")
	dryRun := fs.Bool("dry-run", false, "print what would be requeued, change nothing")
	patchFile := fs.String("patch", "", "JSON merge patch file applied to each body")
	by := fs.String("by", os.Getenv("USER"), "who requeues (recorded)")
	note := fs.String("note", "", "why (recorded)")
	ignoreDeadline := fs.Bool("ignore-deadline", false,
		"requeue even when Adobe's deadline has passed")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if !c.parse(fs, args, true) {
		return 2
	}
	f, err := ff.filter()
	if err != nil {
		return c.fail(err)
	}
	f.IDs = c.positional
	req := deadletter.Request{Filter: f, All: *all, DryRun: *dryRun, By: *by, Note: *note,
		IgnoreDeadline: *ignoreDeadline}
	if *patchFile != "" {
		if req.Patch, err = os.ReadFile(*patchFile); err != nil {
			return c.fail(fmt.Errorf("read patch: %w", err))
		}
	}
	requeuer, closeQueue, err := newRequeuer(c.cfg, c.store)
	if err != nil {
		return c.fail(err)
	}
	defer closeQueue()
	var bar *progressbar.ProgressBar
	req.Progress = func(done, total int) {
		if total < 100 {
			return
		}
		if bar == nil {
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(c.stderr),
				progressbar.OptionSetDescription("requeue"), progressbar.OptionShowCount())
		}
		_ = bar.Set(done)
	}
	rep, err := requeuer.Requeue(ctx, req)
	if bar != nil {
		_ = bar.Finish()
		_, _ = fmt.Fprintln(c.stderr)
	}
	if err != nil {
		return c.fail(err)
	}
	return c.report(rep, *asJSON)
}

func (c *dlqCmd) report(rep *deadletter.Report, asJSON bool) int {
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		for _, o := range rep.Outcomes {
			line := fmt.Sprintf("%-13s %s (%s)", o.Result, o.ID, o.Reason)
			if o.Why != "" {
				line += ": " + o.Why
			}
			_, _ = fmt.Fprintln(c.stdout, line)
		}
		verb := "requeued"
		if rep.DryRun {
			verb = "would requeue"
		}
		_, _ = fmt.Fprintf(c.stdout, "%d matched, %s %d, skipped %d\n", rep.Matched, verb,
			rep.Requeued, rep.Skipped)
	}
	if rep.Skipped > 0 {
		return 1
	}
	return 0
}

func newRequeuer(cfg config.Producer, st *store.Store) (*deadletter.Requeuer, func(), error) {
	conn, err := redisconn.Parse(cfg.RedisURL)
	if err != nil {
		return nil, nil, err
	}
	q := deadletter.Queue{
		Client:      asynq.NewClientFromRedisClient(conn.Client),
		Inspector:   asynq.NewInspectorFromRedisClient(conn.Client),
		Name:        cfg.Queue,
		MaxAttempts: cfg.MaxAttempts,
		TaskTimeout: cfg.TaskTimeout,
		Retention:   cfg.ResultRetention,
		Counts:      conn.Client,
	}
	return deadletter.NewRequeuer(st, q), func() { _ = conn.Close() }, nil
}

func (c *dlqCmd) purge(ctx context.Context, args []string) int {
	fs := c.flags("purge")
	var ff filterFlags
	ff.add(fs)
	olderThan := fs.Duration("older-than", 0, "dead-lettered longer ago than this (e.g. 720h)")
	dryRun := fs.Bool("dry-run", false, "count only, delete nothing")
	if !c.parse(fs, args, false) {
		return 2
	}
	f, err := ff.filter()
	if err != nil {
		return c.fail(err)
	}
	if *olderThan > 0 {
		cutoff := time.Now().Add(-*olderThan)
		if f.Until.IsZero() || cutoff.Before(f.Until) {
			f.Until = cutoff
		}
	}
	if f.Empty() {
		_, _ = fmt.Fprintln(c.stderr, "purge needs a filter or --older-than; dead letters are "+
			"kept until an operator purges them explicitly")
		return 2
	}
	f.State = "any"
	n, err := c.store.CountDeadLetters(ctx, f)
	if err != nil {
		return c.fail(err)
	}
	_, _ = fmt.Fprintf(c.stdout, "%d dead letter(s) match\n", n)
	if *dryRun || n == 0 {
		return 0
	}
	deleted, err := c.store.PurgeDeadLetters(ctx, f)
	if err != nil {
		return c.fail(err)
	}
	_, _ = fmt.Fprintf(c.stdout, "purged %d dead letter(s)\n", deleted)
	return 0
}

// deadLetterAPI opens what the API's /v1/dead-letters routes need.
func deadLetterAPI(ctx context.Context, cfg config.Producer) (*api.DeadLetters, func(), error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	// A pending migration stops the start; an outage does not, since
	// enqueueing needs only Redis.
	if err := st.CheckMigrated(ctx); err != nil && !store.IsUnavailable(err) {
		st.Close()
		return nil, nil, err
	}
	requeuer, closeQueue, err := newRequeuer(cfg, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return &api.DeadLetters{Store: st, Requeuer: requeuer}, func() { closeQueue(); st.Close() },
		nil
}
