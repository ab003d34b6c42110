package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/internal/jsserver"
	"github.com/steady-go/steady/jsbridge"
)

// bridgeCap is the capacity of the channel on each side of a bridge: 16 of
// the outbound bridge's steps (jsbridge.DefaultMaxBatch values each), so
// that the producer fills the channel while the bridge waits for its
// acknowledgement, and the sink drains while the inbound bridge fetches.
const bridgeCap = 16 * jsbridge.DefaultMaxBatch

// bridgeChunk is how many values a producer step sends, and how many the
// raw baseline packs into a frame or publishes per window, unless a
// benchmark says otherwise: the outbound bridge's default step, so that
// both sides move the same units.
const bridgeChunk = jsbridge.DefaultMaxBatch

// rawFramedWindow is how many frames the raw baseline publishes before it
// waits for their acknowledgements, and rawFramedFetch how many its
// consumer fetches at a time (the inbound bridge asks for 16 framed
// messages at a time too). Per message, both are bridgeChunk, the number of
// messages the outbound bridge publishes in a step.
const (
	rawFramedWindow = 16
	rawFramedFetch  = 16
)

// reconnectWait is the benchmarks' nats.ReconnectWait: nats.go's default
// is 2 s, which would set the server-restart figure on its own.
const reconnectWait = 20 * time.Millisecond

// sampleEvery: one value in sampleEvery is stamped when the producer
// commits it and when the consumer does, for the latency percentiles.
const sampleEvery = 64

// offer is how a producer offers values: n of them, chunk per step (per
// frame or window in the raw baseline), one step every `every`, or as fast
// as it can if every is 0.
type offer struct {
	n, chunk int
	every    time.Duration
}

// pace waits, with wait, until step k of o is due, counted from start.
func (o offer) pace(start time.Time, k int, wait func(time.Duration) error) error {
	if o.every == 0 {
		return nil
	}
	return wait(time.Until(start.Add(time.Duration(k) * o.every)))
}

// createStream creates the stream name, with subject name.data, as the
// bridges would (jsbridge.DefaultStreamConfig), before the clock starts.
func createStream(b *testing.B, js jetstream.JetStream, name string) {
	sc := jsbridge.DefaultStreamConfig()
	sc.Name, sc.Subjects = name, []string{name + ".data"}
	if _, err := js.CreateStream(context.Background(), sc); err != nil {
		b.Fatal(err)
	}
}

// natsServer is an embedded JetStream server, file storage in a temporary
// directory, which can be stopped and started again on the same port and
// directory. It stops at the end of the benchmark's run.
type natsServer struct {
	b    *testing.B
	opts jsserver.Options
	s    *jsserver.Server
	url  string
}

func startServer(b *testing.B) *natsServer {
	srv := &natsServer{b: b, opts: jsserver.Options{Dir: b.TempDir()}}
	srv.start()
	u, err := url.Parse(srv.url)
	if err != nil {
		b.Fatal(err)
	}
	if srv.opts.Port, err = strconv.Atoi(u.Port()); err != nil {
		b.Fatalf("server URL %q: %v", srv.url, err)
	}
	b.Cleanup(srv.stop)
	return srv
}

func (srv *natsServer) start() {
	s, err := jsserver.Start(srv.opts)
	if err != nil {
		srv.b.Fatal(err)
	}
	srv.s, srv.url = s, s.URL()
}

func (srv *natsServer) stop() {
	if srv.s != nil {
		srv.s.Shutdown()
		srv.s = nil
	}
}

// connectNATS opens a connection that reconnects forever, every
// reconnectWait, and closes at the end of the benchmark's run.
func connectNATS(b *testing.B, url string) *nats.Conn {
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(reconnectWait),
		nats.NoCallbacksAfterClientClose())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return nc
}

// stamps holds, for every sampleEvery-th value, when it was committed,
// measured from a start shared by the two sides.
type stamps struct {
	start time.Time
	at    []time.Duration
}

func newStamps(start time.Time, n int) stamps {
	return stamps{start, make([]time.Duration, (n+sampleEvery-1)/sampleEvery)}
}

// mark records now as the commit of the sampled values among from..to-1.
func (s stamps) mark(from, to int) {
	now := time.Since(s.start)
	for i := (from + sampleEvery - 1) / sampleEvery; i*sampleEvery < to; i++ {
		s.at[i] = now
	}
}

// flow is what one pass of values through a pipeline measured.
type flow struct {
	took     time.Duration   // from the start to the consumer's commit of the last value
	lat      []time.Duration // producer commit → consumer commit of the sampled values, sorted
	restarts int             // of the bridges; a failure in the run if not 0
}

func newFlow(took time.Duration, prod, cons stamps) flow {
	lat := make([]time.Duration, len(prod.at))
	for i := range lat {
		lat[i] = cons.at[i] - prod.at[i]
	}
	slices.Sort(lat)
	return flow{took: took, lat: lat}
}

// quantile returns the q-quantile of sorted, which is not empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// bridgePipe moves o's values from a producer graph, through an outbound
// bridge, the server at url and an inbound bridge configured by bc, to a
// sink in another graph, both graphs in memory and each with a connection
// of its own, as two processes would have. The sink checks that every
// value arrives once, in order. The producer starts once the inbound bridge
// has reset its consumer, so that the figures leave out the bridges' start.
func bridgePipe(b *testing.B, url string, o offer, bc jsbridge.Config) flow {
	pubNC, conNC := connectNATS(b, url), connectNATS(b, url)
	js, err := jetstream.New(pubNC)
	if err != nil {
		b.Fatal(err)
	}
	createStream(b, js, bc.Stream)
	n := o.n
	base := time.Now()
	prodAt, consAt := newStamps(base, n), newStamps(base, n)
	var ib *jsbridge.Inbound
	var start time.Time // the producer's first step

	pub := quietGraph()
	values := steady.NewChannel[uint64](pub, "values", bridgeCap)
	var out *steady.Sender[uint64]
	prod := pub.Actor("producer", func(a *steady.Actor) error {
		for ib.Stats().Resets == 0 {
			if err := a.Sleep(time.Millisecond); err != nil {
				return err
			}
		}
		start = time.Now()
		buf := make([]uint64, o.chunk)
		for i, step := 0, 0; i < n; step++ {
			if err := o.pace(start, step, a.Sleep); err != nil {
				return err
			}
			k := min(len(buf), n-i)
			if err := a.WaitVacant(out, k); err != nil {
				return err
			}
			err := a.Step(func(s *steady.Step) error {
				for j := range k {
					buf[j] = uint64(i + j)
				}
				return out.SendMany(s, buf[:k])
			})
			if err != nil {
				return err
			}
			prodAt.mark(i, i+k)
			i += k
		}
		return nil
	})
	out = values.Sender(prod)
	ob, err := jsbridge.NewOutbound(pub, "out", values, pubNC, bc)
	if err != nil {
		b.Fatal(err)
	}

	con := quietGraph()
	got := steady.NewChannel[uint64](con, "values", bridgeCap)
	var in *steady.Receiver[uint64]
	var next, wrong int
	var end time.Time
	sink := con.Actor("sink", func(a *steady.Actor) error {
		buf := make([]uint64, bridgeChunk)
		for {
			if err := a.WaitAvailable(in, 1); err != nil {
				return err
			}
			var k int
			err := a.Step(func(s *steady.Step) error {
				k = in.PeekMany(s, buf)
				for j, v := range buf[:k] {
					if v != uint64(next+j) {
						wrong++
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			consAt.mark(next, next+k)
			if next += k; next == n {
				end = time.Now()
			}
		}
	})
	in = got.Receiver(sink)
	if ib, err = jsbridge.NewInbound(con, "in", got, conNC, bc); err != nil {
		b.Fatal(err)
	}

	waitCon := runGraph(con)
	if err := pub.Run(context.Background()); err != nil {
		b.Fatalf("publisher: %v", err)
	}
	if err := waitCon(); err != nil {
		b.Fatalf("consumer: %v", err)
	}
	if next != n || wrong != 0 {
		b.Fatalf("the sink took %d values, %d of them out of order, want %d in order", next, wrong, n)
	}
	f := newFlow(end.Sub(start), prodAt, consAt)
	f.restarts = ob.Actor().Restarts() + ib.Actor().Restarts()
	return f
}

// runGraph runs g in the background; the function it returns waits for
// Run's error.
func runGraph(g *steady.Graph) func() error {
	done := make(chan error, 1)
	go func() { done <- g.Run(context.Background()) }()
	return func() error { return <-done }
}

// rawMode says how the raw baseline publishes: one value per message or
// frames, and whether each message carries the headers the outbound bridge
// sets (Nats-Expected-Last-Sequence and Steady-First; on a frame
// Steady-Count and Steady-Framed too), which cost the server and both
// clients work per message.
type rawMode struct {
	perMessage, headers bool
}

// rawPipe moves o's values through the server at url with nats.go alone,
// as one would without steady, on a stream of its own: a publisher sends
// them o.chunk at a time, as one frame (the bridge's framing) or one value
// per message, with PublishMsgAsync, and waits for the acknowledgements of
// a window of messages before it publishes more; a consumer fetches them
// through a durable pull consumer, checks each value's order and
// acknowledges (ack-all) the last message of each fetch. Each side has a
// connection of its own.
func rawPipe(b *testing.B, url, stream string, o offer, mode rawMode) flow {
	ctx := context.Background()
	pjs, err := jetstream.New(connectNATS(b, url))
	if err != nil {
		b.Fatal(err)
	}
	cjs, err := jetstream.New(connectNATS(b, url))
	if err != nil {
		b.Fatal(err)
	}
	createStream(b, pjs, stream)
	window, fetch := rawFramedWindow, rawFramedFetch
	if mode.perMessage {
		window, fetch = bridgeChunk, bridgeChunk
	}
	cons, err := cjs.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: "raw", AckPolicy: jetstream.AckAllPolicy, FilterSubject: stream + ".data",
		// The server's default (1,000) would hold back the end of a
		// fetch of 1,024 until it expired: the acknowledgement comes at
		// the end of the fetch.
		MaxAckPending: 2 * fetch,
	})
	if err != nil {
		b.Fatal(err)
	}

	n := o.n
	start := time.Now()
	prodAt, consAt := newStamps(start, n), newStamps(start, n)
	pubErr := make(chan error, 1)
	go func() { pubErr <- rawPublish(pjs, stream+".data", o, mode, window, start, prodAt) }()

	next := 0
	for next < n {
		// A fetch waits until it has all it asked for, so the last one is
		// ended by hand once the last value is in.
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		batch, err := cons.Fetch(fetch, jetstream.FetchContext(fctx))
		if err != nil {
			b.Fatal(err)
		}
		var last jetstream.Msg
		for next < n {
			msg, ok := <-batch.Messages()
			if !ok {
				break
			}
			data, from := msg.Data(), next
			for len(data) > 0 {
				if !mode.perMessage {
					l, k := binary.Uvarint(data)
					if k <= 0 || l != 8 {
						b.Fatalf("value %d: malformed frame", next)
					}
					data = data[k:]
				}
				if v := binary.LittleEndian.Uint64(data); v != uint64(next) {
					b.Fatalf("got %d, want %d", v, next)
				}
				data = data[8:]
				next++
			}
			consAt.mark(from, next)
			last = msg
		}
		cancel()
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) &&
			!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
		if last != nil {
			if err := last.Ack(); err != nil {
				b.Fatal(err)
			}
		}
	}
	took := time.Since(start)
	if err := <-pubErr; err != nil {
		b.Fatal(err)
	}
	return newFlow(took, prodAt, consAt)
}

// rawPublish is rawPipe's publisher.
func rawPublish(js jetstream.JetStream, subject string, o offer, mode rawMode, window int, start time.Time, prodAt stamps) error {
	var futures []jetstream.PubAckFuture
	var published int // messages, and the stream's last sequence
	publish := func(data []byte, first, count int) error {
		m := &nats.Msg{Subject: subject, Data: data}
		if mode.headers {
			m.Header = nats.Header{}
			m.Header.Set("Steady-First", strconv.Itoa(first))
			if !mode.perMessage {
				m.Header.Set("Steady-Count", strconv.Itoa(count))
				m.Header.Set("Steady-Framed", "1")
			}
			m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.Itoa(published))
		}
		f, err := js.PublishMsgAsync(m)
		futures = append(futures, f)
		published++
		return err
	}
	sleep := func(d time.Duration) error { time.Sleep(d); return nil }
	for i, step := 0, 0; i < o.n; step++ {
		o.pace(start, step, sleep)
		k := min(o.chunk, o.n-i)
		prodAt.mark(i, i+k)
		if mode.perMessage {
			for j := range k {
				if err := publish(binary.LittleEndian.AppendUint64(nil, uint64(i+j)), i+j, 1); err != nil {
					return err
				}
			}
		} else {
			frame := make([]byte, 0, k*9)
			for j := range k {
				frame = binary.AppendUvarint(frame, 8)
				frame = binary.LittleEndian.AppendUint64(frame, uint64(i+j))
			}
			if err := publish(frame, i, k); err != nil {
				return err
			}
		}
		i += k
		if len(futures) < window && i < o.n {
			continue
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return err
			}
		}
		futures = futures[:0]
	}
	return nil
}

// benchBridge runs o through the raw baseline, then through the bridges
// configured by bc, on one server, and reports both rates, their ratio, the
// processor time each took per value (the server's included: it runs in
// the process), the latency percentiles of each, and the bridges'
// restarts (a failure in the run, unless 0). With headers, it also runs
// the raw baseline with the bridge's headers on every message, between the
// two, and reports its rate and processor time and the bridges' ratio to
// it (x-hdr).
func benchBridge(b *testing.B, o offer, bc jsbridge.Config, headers bool) {
	srv := startServer(b)
	c0, measured := cpuTime()
	raw := rawPipe(b, srv.url, "RAW", o, rawMode{perMessage: bc.PerMessage})
	c1, _ := cpuTime()
	var hdr flow
	if headers {
		hdr = rawPipe(b, srv.url, "HDR", o, rawMode{perMessage: bc.PerMessage, headers: true})
	}
	c2, _ := cpuTime()
	br := bridgePipe(b, srv.url, o, bc)
	c3, _ := cpuTime()

	n := float64(o.n)
	perVal := func(from, to time.Duration) float64 { return float64((to - from).Nanoseconds()) / n }
	b.ReportMetric(n/br.took.Seconds(), "bridge-val/s")
	b.ReportMetric(n/raw.took.Seconds(), "raw-val/s")
	b.ReportMetric(raw.took.Seconds()/br.took.Seconds(), "x-raw")
	if measured {
		b.ReportMetric(perVal(c2, c3), "bridge-cpu-ns/val")
		b.ReportMetric(perVal(c0, c1), "raw-cpu-ns/val")
	}
	if headers {
		b.ReportMetric(n/hdr.took.Seconds(), "hdr-val/s")
		b.ReportMetric(hdr.took.Seconds()/br.took.Seconds(), "x-hdr")
		if measured {
			b.ReportMetric(perVal(c1, c2), "hdr-cpu-ns/val")
		}
	}
	b.ReportMetric(float64(quantile(br.lat, 0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(quantile(br.lat, 0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(quantile(raw.lat, 0.50).Microseconds()), "raw-p50-µs")
	b.ReportMetric(float64(quantile(raw.lat, 0.99).Microseconds()), "raw-p99-µs")
	b.ReportMetric(float64(br.restarts), "restarts")
}

// BenchmarkBridgeFramed: a uint64 channel bridged with the default
// configuration (a step's values framed in one NATS message), producer
// graph to consumer graph through an embedded server with file storage,
// against nats.go publishing the same frames. The producer offers values as
// fast as the pipeline takes them. Target: ≥ 1M values/s.
//
// The sub-benchmark maxbatch=4096 raises Config.MaxBatch (and the producer's
// step and the raw baseline's frame with it) from its default, 1,024, to
// show what a step's round trip costs: the bridge has one step's messages
// in flight at a time.
func BenchmarkBridgeFramed(b *testing.B) {
	for _, batch := range []int{jsbridge.DefaultMaxBatch, 4 * jsbridge.DefaultMaxBatch} {
		name := "default"
		if batch != jsbridge.DefaultMaxBatch {
			name = "maxbatch=" + strconv.Itoa(batch)
		}
		b.Run(name, func(b *testing.B) {
			benchBridge(b, offer{n: max(b.N, batch), chunk: batch}, jsbridge.Config{Stream: "BRIDGE", MaxBatch: batch}, false)
		})
	}
}

// BenchmarkBridgePerMessage: the same with Config.PerMessage (one value per
// NATS message), against nats.go publishing one value per message. Target:
// x-raw ≥ 0.7. The run also sends the values raw with the bridge's headers
// on every message (hdr-val/s, x-hdr), which tells what the headers cost
// from what steady's bookkeeping does.
func BenchmarkBridgePerMessage(b *testing.B) {
	benchBridge(b, offer{n: max(b.N, bridgeChunk), chunk: bridgeChunk}, jsbridge.Config{Stream: "BRIDGE", PerMessage: true}, true)
}

// BenchmarkBridgeLatency: the same pipelines under a steady load well below
// their capacity, one step a millisecond (100 values a step framed, 100k
// values/s; 1 per message, 1k values/s: per message, the bridges and the
// server take about 100 µs of processor time a value at such a rate, and
// 5k values/s already needed more than this shared machine gave in some
// runs), where latency is the time a value takes to cross, not the time it
// queues behind others as in the benchmarks above.
func BenchmarkBridgeLatency(b *testing.B) {
	for _, tc := range []struct {
		name  string
		chunk int
		bc    jsbridge.Config
	}{
		{"framed-100k", 100, jsbridge.Config{Stream: "BRIDGE"}},
		{"per-message-1k", 1, jsbridge.Config{Stream: "BRIDGE", PerMessage: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			benchBridge(b, offer{n: max(b.N, tc.chunk), chunk: tc.chunk, every: time.Millisecond}, tc.bc, false)
		})
	}
}

// BenchmarkBridgePerMessageAlone runs one pipeline of
// BenchmarkBridgePerMessage alone, for a CPU profile of it
// (-cpuprofile): raw nats.go, raw with the bridge's headers, or the
// bridges. It reports each one's rate, with no baseline: ratios come from
// BenchmarkBridgePerMessage.
func BenchmarkBridgePerMessageAlone(b *testing.B) {
	for _, name := range []string{"raw", "raw-headers", "bridge"} {
		b.Run(name, func(b *testing.B) {
			srv := startServer(b)
			o := offer{n: max(b.N, bridgeChunk), chunk: bridgeChunk}
			var f flow
			switch name {
			case "raw":
				f = rawPipe(b, srv.url, "RAW", o, rawMode{perMessage: true})
			case "raw-headers":
				f = rawPipe(b, srv.url, "HDR", o, rawMode{perMessage: true, headers: true})
			default:
				f = bridgePipe(b, srv.url, o, jsbridge.Config{Stream: "BRIDGE", PerMessage: true})
			}
			b.ReportMetric(float64(o.n)/f.took.Seconds(), "val/s")
		})
	}
}
