// Apache Tomcat's EL doing the work `cti-el` does per call event: the mappings of
// `example-event-uri-mappings-put.json`, each URI rendered with its substituted values
// percent-encoded and each payload rendered to its JSON text, against one call event.
//
//   java -cp tomcat10-el-api.jar:tomcat10-jasper-el.jar:. TomcatEl bench <mappings.json> <event.json>
//       parses once, renders many times after a warm-up, prints the CPU time per event
//       (best of several rounds, thread CPU time) and the rendered output once
//   java -cp ... TomcatEl eval
//       reads `{"expr": "...", "vars": {...}}` lines and answers `{"ok": value, "type": "Long"}`
//       or `{"error": "..."}`: how Tomcat evaluates an expression (the conformance reference)
//
// No dependencies beyond Tomcat's two EL jars: a small JSON reader and writer are below.

import jakarta.el.CompositeELResolver;
import jakarta.el.ELContext;
import jakarta.el.ELResolver;
import jakarta.el.ExpressionFactory;
import jakarta.el.FunctionMapper;
import jakarta.el.ListELResolver;
import jakarta.el.MapELResolver;
import jakarta.el.ValueExpression;
import jakarta.el.VariableMapper;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public final class TomcatEl {

    // ---- variables: the event's fields plus `xelionEvent`, resolved by name -------------

    /** Resolves a top-level identifier from the current event (null when absent, as in JSP). */
    static final class EventResolver extends ELResolver {
        Map<String, Object> fields = Map.of();
        String xelionEvent;
        boolean strict;

        @Override
        public Object getValue(ELContext ctx, Object base, Object property) {
            if (base != null) {
                return null;
            }
            String name = property.toString();
            if ("xelionEvent".equals(name) && xelionEvent != null) {
                ctx.setPropertyResolved(true);
                return xelionEvent;
            }
            if (strict && !fields.containsKey(name)) {
                return null; // unresolved: Tomcat throws PropertyNotFoundException
            }
            ctx.setPropertyResolved(true);
            return fields.get(name);
        }

        @Override
        public Class<?> getType(ELContext ctx, Object base, Object property) {
            return null;
        }

        @Override
        public void setValue(ELContext ctx, Object base, Object property, Object value) {
        }

        @Override
        public boolean isReadOnly(ELContext ctx, Object base, Object property) {
            return true;
        }

        @Override
        public Class<?> getCommonPropertyType(ELContext ctx, Object base) {
            return base == null ? String.class : null;
        }
    }

    static final class Context extends ELContext {
        final EventResolver vars = new EventResolver();
        final CompositeELResolver resolver = new CompositeELResolver();

        Context() {
            resolver.add(vars);
            resolver.add(new MapELResolver(true));
            resolver.add(new ListELResolver(true));
        }

        @Override
        public ELResolver getELResolver() {
            return resolver;
        }

        @Override
        public FunctionMapper getFunctionMapper() {
            return null;
        }

        @Override
        public VariableMapper getVariableMapper() {
            return null;
        }
    }

    static final ExpressionFactory FACTORY = new org.apache.el.ExpressionFactoryImpl();

    // ---- templates: literal text and eval-expressions, each parsed once ----------------

    /** A composite template split into literal text (String) and expressions (ValueExpression). */
    static final class Template {
        final Object[] parts;

        Template(String src, ELContext ctx) {
            List<Object> out = new ArrayList<>();
            StringBuilder text = new StringBuilder();
            int i = 0;
            while (i < src.length()) {
                char c = src.charAt(i);
                if (c == '\\' && i + 2 < src.length() && (src.charAt(i + 1) == '$' || src.charAt(i + 1) == '#')
                        && src.charAt(i + 2) == '{') {
                    text.append(src.charAt(i + 1)).append('{');
                    i += 3;
                } else if ((c == '$' || c == '#') && i + 1 < src.length() && src.charAt(i + 1) == '{') {
                    int end = endOfExpression(src, i + 2);
                    if (text.length() > 0) {
                        out.add(text.toString());
                        text.setLength(0);
                    }
                    out.add(FACTORY.createValueExpression(ctx, src.substring(i, end + 1), Object.class));
                    i = end + 1;
                } else {
                    text.append(c);
                    i++;
                }
            }
            if (text.length() > 0) {
                out.add(text.toString());
            }
            parts = out.toArray();
        }

        /** The index of the `}` closing the expression starting at `i` (string literals skipped). */
        static int endOfExpression(String s, int i) {
            char quote = 0;
            for (; i < s.length(); i++) {
                char c = s.charAt(i);
                if (quote != 0) {
                    if (c == '\\') {
                        i++;
                    } else if (c == quote) {
                        quote = 0;
                    }
                } else if (c == '\'' || c == '"') {
                    quote = c;
                } else if (c == '}') {
                    return i;
                }
            }
            throw new IllegalArgumentException("unterminated expression in " + s);
        }

        boolean single() {
            return parts.length == 1 && parts[0] instanceof ValueExpression;
        }
    }

    static String coerceToString(ELContext ctx, Object v) {
        if (v == null) {
            return "";
        }
        if (v instanceof String s) {
            return s;
        }
        return (String) ctx.convertToType(v, String.class);
    }

    private static final char[] HEX = "0123456789ABCDEF".toCharArray();

    /** Everything but RFC 3986 unreserved characters percent-encoded, as UTF-8. */
    static void percentEncode(String s, StringBuilder out) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
                    || c == '.' || c == '_' || c == '~') {
                out.append(c);
            } else if (c < 0x80) {
                out.append('%').append(HEX[c >> 4]).append(HEX[c & 15]);
            } else {
                for (byte b : s.substring(i, Character.isHighSurrogate(c) ? i + 2 : i + 1)
                        .getBytes(StandardCharsets.UTF_8)) {
                    out.append('%').append(HEX[(b >> 4) & 15]).append(HEX[b & 15]);
                }
                if (Character.isHighSurrogate(c)) {
                    i++;
                }
            }
        }
    }

    static void renderUri(Template t, ELContext ctx, StringBuilder out) {
        for (Object p : t.parts) {
            if (p instanceof String s) {
                out.append(s);
            } else {
                percentEncode(coerceToString(ctx, ((ValueExpression) p).getValue(ctx)), out);
            }
        }
    }

    // ---- payloads: a JSON tree whose strings are templates, rendered to JSON text ------

    /** Renders a payload node: Map (sorted keys, as the server stores them), List, Template, or a plain value. */
    static void renderPayload(Object node, ELContext ctx, StringBuilder out) {
        if (node instanceof Template t) {
            if (t.single()) {
                writeJson(((ValueExpression) t.parts[0]).getValue(ctx), out);
            } else {
                StringBuilder s = new StringBuilder();
                for (Object p : t.parts) {
                    s.append(p instanceof String l ? l : coerceToString(ctx, ((ValueExpression) p).getValue(ctx)));
                }
                writeString(s, out);
            }
        } else if (node instanceof Map<?, ?> m) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                writeString((String) e.getKey(), out);
                out.append(':');
                renderPayload(e.getValue(), ctx, out);
            }
            out.append('}');
        } else if (node instanceof List<?> l) {
            out.append('[');
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                renderPayload(l.get(i), ctx, out);
            }
            out.append(']');
        } else {
            writeJson(node, out);
        }
    }

    /** Replaces every string of a JSON tree by its parsed template. */
    static Object compilePayload(Object node, ELContext ctx) {
        if (node instanceof String s) {
            return new Template(s, ctx);
        }
        if (node instanceof Map<?, ?> m) {
            TreeMap<String, Object> out = new TreeMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                out.put((String) e.getKey(), compilePayload(e.getValue(), ctx));
            }
            return out;
        }
        if (node instanceof List<?> l) {
            List<Object> out = new ArrayList<>();
            for (Object o : l) {
                out.add(compilePayload(o, ctx));
            }
            return out;
        }
        return node;
    }

    // ---- the benchmark ------------------------------------------------------------------

    record Mapping(Template uri, Object payload) {
    }

    static int renderAll(List<Mapping> mappings, ELContext ctx, StringBuilder out) {
        int n = 0;
        for (Mapping m : mappings) {
            out.setLength(0);
            renderUri(m.uri, ctx, out);
            n += out.length();
            if (m.payload != null) {
                out.setLength(0);
                renderPayload(m.payload, ctx, out);
                n += out.length();
            }
        }
        return n;
    }

    @SuppressWarnings("unchecked")
    static void bench(String mappingsFile, String eventFile, int rounds, int iterations) throws Exception {
        List<Object> doc = (List<Object>) new Json(Files.readString(Path.of(mappingsFile))).value();
        Map<String, Object> event = (Map<String, Object>) new Json(Files.readString(Path.of(eventFile))).value();
        Context ctx = new Context();
        List<Mapping> mappings = new ArrayList<>();
        for (Object o : doc) {
            Map<String, Object> m = (Map<String, Object>) o;
            Object payload = m.get("crmResourcePayload");
            mappings.add(new Mapping(new Template(((String) m.get("crmResourceUri")).trim(), ctx),
                    payload == null ? null : compilePayload(payload, ctx)));
        }
        ctx.vars.fields = event;
        ctx.vars.xelionEvent = "callHungUpEvent";
        StringBuilder out = new StringBuilder(1024);
        // The output once, so the runner can compare it with cti-el's.
        for (Mapping m : mappings) {
            out.setLength(0);
            renderUri(m.uri, ctx, out);
            System.out.println("uri " + out);
            if (m.payload != null) {
                out.setLength(0);
                renderPayload(m.payload, ctx, out);
                System.out.println("payload " + out);
            }
        }
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long sink = 0;
        // Warm-up: 5 s of this thread's CPU time, long enough for the JIT's top tier to compile
        // the whole path even on a busy machine.
        long warmEnd = mx.getCurrentThreadCpuTime() + 5_000_000_000L;
        while (mx.getCurrentThreadCpuTime() < warmEnd) {
            for (int i = 0; i < 10_000; i++) {
                sink += renderAll(mappings, ctx, out);
            }
        }
        double best = Double.MAX_VALUE;
        for (int r = 0; r < rounds; r++) {
            long t0 = mx.getCurrentThreadCpuTime();
            for (int i = 0; i < iterations; i++) {
                sink += renderAll(mappings, ctx, out);
            }
            long t1 = mx.getCurrentThreadCpuTime();
            best = Math.min(best, (double) (t1 - t0) / iterations);
        }
        System.out.printf("tomcat_ns_per_event %.1f%n", best);
        System.out.println("sink " + (sink & 1));
    }

    // ---- expression checks --------------------------------------------------------------

    @SuppressWarnings("unchecked")
    static void eval() throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, Object> req = (Map<String, Object>) new Json(line).value();
            Context ctx = new Context();
            Object vars = req.get("vars");
            ctx.vars.fields = vars == null ? Map.of() : (Map<String, Object>) vars;
            ctx.vars.strict = Boolean.TRUE.equals(req.get("strict"));
            StringBuilder out = new StringBuilder("{\"expr\":");
            writeString((String) req.get("expr"), out);
            try {
                ValueExpression ve = FACTORY.createValueExpression(ctx, (String) req.get("expr"), Object.class);
                Object v = ve.getValue(ctx);
                out.append(",\"ok\":");
                writeJson(v, out);
                out.append(",\"type\":");
                writeString(v == null ? "null" : v.getClass().getSimpleName(), out);
            } catch (RuntimeException e) {
                out.append(",\"error\":");
                writeString(e.getClass().getSimpleName() + ": " + e.getMessage(), out);
            }
            System.out.println(out.append('}'));
        }
    }

    public static void main(String[] args) throws Exception {
        switch (args.length > 0 ? args[0] : "") {
            case "bench" -> bench(args[1], args[2], args.length > 3 ? Integer.parseInt(args[3]) : 10,
                    args.length > 4 ? Integer.parseInt(args[4]) : 200_000);
            case "eval" -> eval();
            default -> {
                System.err.println("usage: TomcatEl bench <mappings.json> <event.json> [rounds] [iterations] | eval");
                System.exit(2);
            }
        }
    }

    // ---- JSON ----------------------------------------------------------------------------

    static void writeJson(Object v, StringBuilder out) {
        if (v == null) {
            out.append("null");
        } else if (v instanceof String s) {
            writeString(s, out);
        } else if (v instanceof Double d && (d.isNaN() || d.isInfinite())) {
            writeString(d.toString(), out);
        } else if (v instanceof Number || v instanceof Boolean) {
            out.append(v);
        } else if (v instanceof Map<?, ?> m) {
            out.append('{');
            Iterator<? extends Map.Entry<?, ?>> it = m.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<?, ?> e = it.next();
                writeString(e.getKey().toString(), out);
                out.append(':');
                writeJson(e.getValue(), out);
                if (it.hasNext()) {
                    out.append(',');
                }
            }
            out.append('}');
        } else if (v instanceof List<?> l) {
            out.append('[');
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                writeJson(l.get(i), out);
            }
            out.append(']');
        } else {
            writeString(v.toString(), out);
        }
    }

    static void writeString(CharSequence s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** A minimal JSON reader: objects (sorted by key), arrays, strings, numbers (Long or Double), literals. */
    static final class Json {
        private final String s;
        private int i;

        Json(String s) {
            this.s = s;
        }

        Object value() {
            Object v = read();
            ws();
            if (i != s.length()) {
                throw new IllegalArgumentException("trailing text at " + i);
            }
            return v;
        }

        private void ws() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        private Object read() {
            ws();
            char c = s.charAt(i);
            switch (c) {
                case '{': {
                    i++;
                    TreeMap<String, Object> m = new TreeMap<>();
                    ws();
                    if (s.charAt(i) == '}') {
                        i++;
                        return m;
                    }
                    while (true) {
                        ws();
                        String k = string();
                        ws();
                        expect(':');
                        m.put(k, read());
                        ws();
                        if (s.charAt(i) == ',') {
                            i++;
                        } else {
                            expect('}');
                            return m;
                        }
                    }
                }
                case '[': {
                    i++;
                    List<Object> l = new ArrayList<>();
                    ws();
                    if (s.charAt(i) == ']') {
                        i++;
                        return l;
                    }
                    while (true) {
                        l.add(read());
                        ws();
                        if (s.charAt(i) == ',') {
                            i++;
                        } else {
                            expect(']');
                            return l;
                        }
                    }
                }
                case '"':
                    return string();
                default:
                    if (s.startsWith("true", i)) {
                        i += 4;
                        return Boolean.TRUE;
                    }
                    if (s.startsWith("false", i)) {
                        i += 5;
                        return Boolean.FALSE;
                    }
                    if (s.startsWith("null", i)) {
                        i += 4;
                        return null;
                    }
                    int start = i;
                    while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                        i++;
                    }
                    String n = s.substring(start, i);
                    if (n.isEmpty()) {
                        throw new IllegalArgumentException("unexpected character at " + i);
                    }
                    try {
                        return Long.valueOf(n);
                    } catch (NumberFormatException e) {
                        return Double.valueOf(n);
                    }
            }
        }

        private void expect(char c) {
            if (s.charAt(i) != c) {
                throw new IllegalArgumentException("expected " + c + " at " + i);
            }
            i++;
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') {
                    return b.toString();
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n' -> b.append('\n');
                    case 't' -> b.append('\t');
                    case 'r' -> b.append('\r');
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'u' -> {
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                    }
                    default -> b.append(e);
                }
            }
        }
    }
}
