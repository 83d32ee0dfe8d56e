// Test traffic from Sarama (IBM/sarama), the Go client, with its defaults: the hash
// partitioner (FNV-1a of the key), acks from the leader only, no idempotence. One record per
// stdin line "topic<TAB>key<TAB>timestampMs<TAB>value", an empty key for none; an empty line
// ends a minute, whose records are all on the broker before the next is read. Prints the count
// sent. Used by tests/producers.py (`produce_sarama`).
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

func main() {
	config := sarama.NewConfig()
	config.ClientID = "livewatch-test-sarama"
	config.Producer.Return.Successes = true // SendMessages needs them
	producer, err := sarama.NewSyncProducer([]string{os.Args[1]}, config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	sent := 0
	var minute []*sarama.ProducerMessage
	flush := func() {
		if len(minute) == 0 {
			return
		}
		if err := producer.SendMessages(minute); err != nil {
			fmt.Fprintln(os.Stderr, "send:", err)
			os.Exit(1)
		}
		sent += len(minute)
		minute = nil
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		line := in.Text()
		if line == "" {
			flush()
			continue
		}
		f := strings.SplitN(line, "\t", 4)
		ms, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "timestamp:", err)
			os.Exit(1)
		}
		msg := &sarama.ProducerMessage{
			Topic:     f[0],
			Value:     sarama.StringEncoder(f[3]),
			Timestamp: time.UnixMilli(ms),
		}
		if f[1] != "" {
			msg.Key = sarama.StringEncoder(f[1])
		}
		minute = append(minute, msg)
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "stdin:", err)
		os.Exit(1)
	}
	flush()
	if err := producer.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		os.Exit(1)
	}
	fmt.Println(sent)
}
