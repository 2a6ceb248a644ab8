package prom

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// answers are realistic bodies of /api/v1/query, with the status code
// they come with.
var answers = []struct {
	name string
	code int
	body string
	// want is the values decoded, or err a part of the error.
	want      []float64
	err       string
	retryable bool
}{
	{name: "vector", code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[` +
		`{"metric":{"namespace":"shop","deployment":"web","target_addr":"10.42.1.10:8080","tls":"true",` +
		`"client_id":"front.shop.serviceaccount.identity.linkerd.cluster.local"},"value":[1795132800,"1200.0004"]},` +
		`{"metric":{"namespace":"shop"},"value":[1795132800.123,"7"]}]}}`, want: []float64{1200.0004, 7}},
	{name: "empty", code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[]}}`},
	{name: "warnings", code: 200, body: `{"status":"success","warnings":["partial response"],"data":{"resultType":"vector",` +
		`"result":[{"metric":{},"value":[1,"1e3"]}]}}`, want: []float64{1000}},
	{name: "special values", code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[` +
		`{"metric":{},"value":[1,"NaN"]},{"metric":{},"value":[1,"+Inf"]},{"metric":{},"value":[1,"-Inf"]}]}}`,
		want: []float64{math.NaN(), math.Inf(1), math.Inf(-1)}},
	{name: "bad_data", code: 400, body: `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:8: parse error"}`,
		err: `bad_data: invalid parameter "query": 1:8: parse error`},
	{name: "timeout", code: 503, body: `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`,
		err: "timeout: query timed out", retryable: true},
	{name: "execution", code: 422, body: `{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory in query execution"}`,
		err: "execution: query processing would load too many samples"},
	{name: "error without message", code: 500, body: `{"status":"error"}`, err: "(no message)", retryable: true},
	{name: "odd status", code: 200, body: `{"status":"pending"}`, err: `200 OK: answer status "pending", want success or error`},
	{name: "proxy page", code: 502, body: `<html><body>Bad Gateway</body></html>`, err: "502 Bad Gateway: answer is not Prometheus API JSON", retryable: true},
	{name: "not json", code: 200, body: `ok`, err: "answer is not Prometheus API JSON"},
	{name: "matrix", code: 200, body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}`,
		err: `result type "matrix", want vector`},
	{name: "scalar", code: 200, body: `{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}`,
		err: `result type "scalar", want vector`},
	{name: "no result", code: 200, body: `{"status":"success","data":{"resultType":"vector"}}`, err: "vector answer without a result"},
	{name: "result not a list", code: 200, body: `{"status":"success","data":{"resultType":"vector","result":{}}}`, err: "vector result: json: cannot unmarshal"},
	{name: "labels not strings", code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}`,
		err: "vector result: json: cannot unmarshal number"},
	{name: "no value", code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}`,
		err: `sample 0 of the vector: value has 0 elements, want [time, "value"]`},
	{name: "value a number", code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,12]}]}}`,
		err: `sample 0 of the vector: value is JSON "12", want a string`},
	{name: "value not a number", code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"12 req"]}]}}`,
		err: `sample 0 of the vector: value "12 req" is not a number`},
	{name: "huge value", code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1e999"]}]}}`,
		err: `sample 0 of the vector: value "1e999" is out of range`},
	{name: "huge time", code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1e999,"1"]}]}}`,
		want: []float64{1}},
}

func TestDecodeAnswer(t *testing.T) {
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			got, err := decodeAnswer(a.code, statusLine(a.code), []byte(a.body))
			if a.err != "" {
				var r retryable
				if err == nil || !strings.Contains(err.Error(), a.err) || errors.As(err, &r) != a.retryable {
					t.Fatalf("err = %v (retryable %t), want %q (retryable %t)", err, errors.As(err, &r), a.err, a.retryable)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(a.want) {
				t.Fatalf("got %d samples, want %d", len(got), len(a.want))
			}
			for i, s := range got {
				if w := a.want[i]; s.Value != w && !(math.IsNaN(w) && math.IsNaN(s.Value)) {
					t.Errorf("sample %d = %v, want %v", i, s.Value, w)
				}
			}
		})
	}
}

func statusLine(code int) string {
	return map[int]string{200: "200 OK", 400: "400 Bad Request", 422: "422 Unprocessable Entity",
		500: "500 Internal Server Error", 502: "502 Bad Gateway", 503: "503 Service Unavailable"}[code]
}

// FuzzDecodeAnswer checks that no answer makes the decoder panic, that
// errors are short readable sentences, and that whatever it accepts makes
// no negative count in a recording.
func FuzzDecodeAnswer(f *testing.F) {
	for _, a := range answers {
		f.Add(a.code, []byte(a.body))
	}
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		samples, err := decodeAnswer(code, "200 OK", body)
		if err != nil {
			// Prometheus' own error message is kept whole; what the decoder
			// says quotes a bounded part of the answer.
			msg := err.Error()
			var perr *Error
			if msg == "" || !utf8.ValidString(msg) ||
				!errors.As(err, &perr) && (len(msg) > 1200 || strings.HasSuffix(msg, ": ")) {
				t.Fatalf("unclear error %q", msg)
			}
			return
		}
		b := newBuilder()
		res := map[string][]Sample{}
		for _, m := range metrics {
			res[m] = samples
		}
		b.add(res)
		rec := b.recording()
		for _, e := range rec.Edges {
			if e.Requests < 0 || e.Denied < 0 {
				t.Fatalf("edge %v: requests %d, denied %d", e.Key(), e.Requests, e.Denied)
			}
			for tls, n := range e.TLS {
				if n < 0 {
					t.Fatalf("edge %v: tls %s %d", e.Key(), tls, n)
				}
			}
		}
	})
}
