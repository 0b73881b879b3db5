// franz-peer: franz-go (github.com/twmb/franz-go) as a native benchmark peer for
// bench/native.sh. Prints the same result lines as `krafty perf produce|consume`.
//
//	franz-peer [-acks 1|all] [-linger 5ms] produce BOOTSTRAP TOPIC RECORDS RECORD_SIZE
//	franz-peer consume BOOTSTRAP TOPIC RECORDS
//
// Everything not set by a flag stays at franz-go's defaults. Any produce error, or fewer
// records consumed than asked for, fails the run (exit 1).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "franz-peer: "+format+"\n", args...)
	os.Exit(1)
}

func count(s, what string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		fail("%s: not a count: %q", what, s)
	}
	return n
}

func produce(bootstrap, topic string, records int64, size int, acks string, linger time.Duration) {
	opts := []kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.ProducerLinger(linger)}
	switch acks {
	case "1":
		// franz-go is idempotent by default, which needs acks=all.
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	default:
		fail("-acks: 1 or all, not %q", acks)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fail("client: %v", err)
	}
	defer cl.Close()

	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	var delivered, failed atomic.Int64
	var firstErr error
	var once sync.Once
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
			once.Do(func() { firstErr = err })
			return
		}
		delivered.Add(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Second)
	defer cancel()
	start := time.Now()
	for i := int64(0); i < records; i++ {
		// Produce blocks while MaxBufferedRecords (default 10,000) are buffered.
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: payload}, done)
	}
	if err := cl.Flush(ctx); err != nil {
		fail("flush: %v", err)
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("%d records sent, %.1f records/sec (%.2f MB/sec).\n",
		records, float64(records)/secs, float64(records)*float64(size)/secs/1048576)
	if failed.Load() > 0 || delivered.Load() != records {
		fail("%d delivered, %d failed (first error: %v)", delivered.Load(), failed.Load(), firstErr)
	}
}

func consume(bootstrap, topic string, records int64) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		// Every partition of the topic from the start, without a group.
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		fail("client: %v", err)
	}
	defer cl.Close()
	start := time.Now()
	var n, bytes int64
	last := time.Now()
	for n < records && time.Since(last) < 60*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fetches := cl.PollFetches(ctx)
		cancel()
		for _, e := range fetches.Errors() {
			if errors.Is(e.Err, context.DeadlineExceeded) {
				continue
			}
			fail("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		if fetches.NumRecords() > 0 {
			last = time.Now()
		}
		for it := fetches.RecordIter(); !it.Done(); {
			r := it.Next()
			n++
			bytes += int64(len(r.Key) + len(r.Value))
		}
	}
	secs := time.Since(start).Seconds()
	mb := float64(bytes) / 1048576
	fmt.Println("data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec")
	fmt.Printf("%.4f, %.4f, %d, %.4f\n", mb, mb/secs, n, float64(n)/secs)
	if n < records {
		fail("consumed %d of %d records before the 60 s idle timeout", n, records)
	}
}

func main() {
	acks := flag.String("acks", "1", "produce: 1 or all")
	linger := flag.Duration("linger", 5*time.Millisecond, "produce: linger")
	flag.Parse()
	a := flag.Args()
	switch {
	case len(a) == 5 && a[0] == "produce":
		produce(a[1], a[2], count(a[3], "RECORDS"), int(count(a[4], "RECORD_SIZE")), *acks, *linger)
	case len(a) == 4 && a[0] == "consume":
		consume(a[1], a[2], count(a[3], "RECORDS"))
	default:
		fmt.Fprintln(os.Stderr, "usage: franz-peer [-acks 1|all] [-linger 5ms] produce BOOTSTRAP TOPIC RECORDS RECORD_SIZE\n       franz-peer consume BOOTSTRAP TOPIC RECORDS")
		os.Exit(2)
	}
}
