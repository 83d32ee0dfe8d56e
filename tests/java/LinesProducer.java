// Test traffic from Kafka's own Java client with its defaults (murmur2 for keyed records,
// idempotence on, acks=all): one record per stdin line "topic<TAB>key<TAB>timestampMs<TAB>value",
// an empty key for none. Prints the count sent. Used by tests/producers.py (`produce_java`).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class LinesProducer {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("linger.ms", "5");
        props.put("key.serializer", ByteArraySerializer.class.getName());
        props.put("value.serializer", ByteArraySerializer.class.getName());
        long sent = 0;
        AtomicReference<Exception> failed = new AtomicReference<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props);
             BufferedReader in = new BufferedReader(
                 new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {  // a minute ends: everything before it on the broker
                    producer.flush();
                    continue;
                }
                String[] f = line.split("\t", 4);
                byte[] key = f[1].isEmpty() ? null : f[1].getBytes(StandardCharsets.UTF_8);
                producer.send(new ProducerRecord<>(f[0], null, Long.parseLong(f[2]), key,
                    f[3].getBytes(StandardCharsets.UTF_8)), (meta, error) -> {
                        if (error != null) failed.compareAndSet(null, error);
                    });
                sent++;
            }
            producer.flush();
        }
        if (failed.get() != null) throw failed.get();
        System.out.println(sent);
    }
}
