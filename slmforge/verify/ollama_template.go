// Renders Ollama Modelfile TEMPLATEs with Go's own text/template, as Ollama does, so a test can
// compare the text with the Jinja chat template the model was trained on.
//
// Input (stdin): a JSON list of {"template", "system", "messages": [{"role", "content"}]}.
// Output (stdout): a JSON list of rendered strings, or {"error": "..."} for a case that fails.
//
// What it mimics of Ollama (server/routes.go ChatHandler, template/template.go): when the request
// has no system message and the Modelfile sets SYSTEM, a system message with that text is put
// first; the template sees .Messages (Role, Content), .System (the Modelfile's SYSTEM) and .Prompt
// (the last user message). What it does not: tools, images, Ollama's truncation of old messages
// to fit num_ctx, and its legacy single-turn .Prompt/.Response templates' per-turn re-rendering.
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"text/template"
)

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type request struct {
	Template string    `json:"template"`
	System   string    `json:"system"`
	Messages []message `json:"messages"`
}

type values struct {
	Messages []message
	System   string
	Prompt   string
}

func render(r request) (string, error) {
	tmpl, err := template.New("").Parse(r.Template)
	if err != nil {
		return "", err
	}
	msgs := r.Messages
	if r.System != "" && (len(msgs) == 0 || msgs[0].Role != "system") {
		msgs = append([]message{{Role: "system", Content: r.System}}, msgs...)
	}
	prompt := ""
	for _, m := range msgs {
		if m.Role == "user" {
			prompt = m.Content
		}
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, values{Messages: msgs, System: r.System, Prompt: prompt}); err != nil {
		return "", err
	}
	return out.String(), nil
}

func main() {
	var requests []request
	if err := json.NewDecoder(os.Stdin).Decode(&requests); err != nil {
		json.NewEncoder(os.Stdout).Encode(map[string]string{"error": err.Error()})
		os.Exit(2)
	}
	results := make([]interface{}, len(requests))
	for i, r := range requests {
		text, err := render(r)
		if err != nil {
			results[i] = map[string]string{"error": err.Error()}
		} else {
			results[i] = text
		}
	}
	json.NewEncoder(os.Stdout).Encode(results)
}
