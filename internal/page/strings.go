package page

// Strings are the page's built-in texts in one language. Templates reach them as .T.
type Strings struct {
	Title        string // default title
	Message      string // default message
	ExpectedBack string // "Expected back" before the announced end
	TimeLeft     string // "About %s left" shape is built by the script; this labels it
	Overdue      string // once the announced end has passed
	Unplanned    string // title when the application is down outside a planned window
	UnplannedMsg string
	Contact      string // default contact link text
	AutoReturn   string // tells the reader the page comes back by itself
	Checking     string // shown while the page checks whether the application is back
}

// builtin holds the shipped languages; "en" must exist and is the fallback for missing fields.
var builtin = map[string]Strings{
	"en": {
		Title:        "Down for maintenance",
		Message:      "We are doing some planned maintenance and will be back soon.",
		ExpectedBack: "Expected back",
		TimeLeft:     "left",
		Overdue:      "This is taking longer than expected. Thank you for your patience.",
		Unplanned:    "Temporarily unavailable",
		UnplannedMsg: "The service is not answering right now. We are on it.",
		Contact:      "Contact us",
		AutoReturn:   "This page will reload by itself when we are back.",
		Checking:     "Checking…",
	},
	"de": {
		Title:        "Wartungsarbeiten",
		Message:      "Wir führen geplante Wartungsarbeiten durch und sind bald wieder da.",
		ExpectedBack: "Voraussichtlich zurück",
		TimeLeft:     "verbleibend",
		Overdue:      "Es dauert länger als erwartet. Danke für Ihre Geduld.",
		Unplanned:    "Vorübergehend nicht erreichbar",
		UnplannedMsg: "Der Dienst antwortet gerade nicht. Wir kümmern uns darum.",
		Contact:      "Kontakt",
		AutoReturn:   "Diese Seite lädt sich neu, sobald wir wieder da sind.",
		Checking:     "Wird geprüft…",
	},
	"fr": {
		Title:        "Maintenance en cours",
		Message:      "Nous effectuons une maintenance planifiée et serons de retour bientôt.",
		ExpectedBack: "Retour prévu",
		TimeLeft:     "restant",
		Overdue:      "Cela prend plus de temps que prévu. Merci de votre patience.",
		Unplanned:    "Temporairement indisponible",
		UnplannedMsg: "Le service ne répond pas pour le moment. Nous nous en occupons.",
		Contact:      "Nous contacter",
		AutoReturn:   "Cette page se rechargera d’elle-même dès notre retour.",
		Checking:     "Vérification…",
	},
	"es": {
		Title:        "En mantenimiento",
		Message:      "Estamos realizando un mantenimiento programado y volveremos pronto.",
		ExpectedBack: "Regreso previsto",
		TimeLeft:     "restante",
		Overdue:      "Está tardando más de lo previsto. Gracias por su paciencia.",
		Unplanned:    "No disponible temporalmente",
		UnplannedMsg: "El servicio no responde en este momento. Estamos en ello.",
		Contact:      "Contáctenos",
		AutoReturn:   "Esta página se recargará sola cuando volvamos.",
		Checking:     "Comprobando…",
	},
	"ja": {
		Title:        "メンテナンス中",
		Message:      "現在、計画メンテナンスを実施しています。まもなく再開します。",
		ExpectedBack: "再開予定",
		TimeLeft:     "残り",
		Overdue:      "予定より時間がかかっています。今しばらくお待ちください。",
		Unplanned:    "一時的にご利用いただけません",
		UnplannedMsg: "現在サービスが応答していません。対応中です。",
		Contact:      "お問い合わせ",
		AutoReturn:   "再開すると、このページは自動的に再読み込みされます。",
		Checking:     "確認中…",
	},
}

// builtinOrder is the order built-in languages are offered in after the configured ones.
var builtinOrder = []string{"en", "de", "fr", "es", "ja"}
